"""Benchmarks for the figures of PRODUCT.md; see benchmarks/README.md for the convention."""
