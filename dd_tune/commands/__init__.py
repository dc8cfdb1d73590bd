"""The commands room: argv, printing and exit codes. Imported by nothing but the entry points
(``python -m dd_tune.<command>``, ``python -m dd_tune <command>`` and the ``dd-tune`` script,
``dd_tune.commands.dispatch``)."""
