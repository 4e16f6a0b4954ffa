"""Tasks: task files and their formats (taskfile), the bundled catalog, SNI suites and
label-word variants (verbalizers). Depends only on types, errors and paths."""
