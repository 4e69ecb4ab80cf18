"""Public test helpers: a fake clock and certificate factories.

They are part of the package (not hidden in tests/) so that downstream
users can test their own integrations the way phonetrust tests itself.
"""
