"""``phonetrust admin``: the CUCM administration CLI, command for command and word for word."""
