"""Functions that change state. Views, commands and tasks call these and nothing else to write."""
