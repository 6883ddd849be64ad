"""Pure Python + numpy/scipy: no Django imports anywhere in this package."""
