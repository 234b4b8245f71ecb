"""PDF output shared by the project: ``writer`` (a small, fast PDF writer) and ``fonts`` (the
Cyrillic fonts shipped with the package, so a fresh machine needs no system fonts)."""
