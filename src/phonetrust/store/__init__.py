"""Storage: the repository contract and its SQL implementation.

SQLite by default, PostgreSQL by URL.

The only package that contains SQL.
"""
