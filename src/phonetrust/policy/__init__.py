"""Pure rules: the cluster as values, what goes into each trust list, cluster rules,
CAPF authentication, and how a phone judges a file or a certificate (``phone_*``)."""
