"""Bulk import of people from an HR export (a manifest CSV of people and photos)."""
