"""The ``phonetrust`` command line: thin wrappers that read files, call the library, print."""
