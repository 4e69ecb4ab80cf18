"""Thin network clients and servers over the sans-I/O core: TFTP, TVS, CAPF, SFTP."""
