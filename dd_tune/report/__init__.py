"""The reports room: typed results, the study and comparison reports, statistics, plots and FLOP counts.
Plain data in, files out; it never imports the Ray side (``dd_tune.tune``)."""
