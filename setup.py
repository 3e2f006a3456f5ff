"""Package discovery; everything else is in pyproject.toml.

Every folder under facedb/ is shipped (a new subpackage cannot be forgotten, and
facedb/api/static, which holds no Python, comes as package data), and the two top-level
folders that pyproject's package-dir maps into facedb (migrations/ -> facedb.migrations,
weights/ -> facedb.weights) with their subfolders.
tests/test_wheel.py checks that every module of the checkout is in the wheel.
"""

from setuptools import find_namespace_packages, setup

MAPPED = {"facedb.migrations": "migrations", "facedb.weights": "weights"}
SKIP = ["*__pycache__*"]

packages = find_namespace_packages(include=["facedb", "facedb.*"], exclude=SKIP)
for name, folder in MAPPED.items():
    packages += [name, *(f"{name}.{sub}" for sub in find_namespace_packages(folder, exclude=SKIP))]

setup(packages=sorted(packages))
