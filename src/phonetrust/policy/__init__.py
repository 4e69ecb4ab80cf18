"""Pure rules: the cluster as values, what goes into each trust list, cluster rules."""
