"""docs/BENCHMARKS.md from the saved results: one module per section, document.py
puts them together."""
