"""The records room: what a study produced, as frozen typed records, and the statistics that summarise
a row. Every stage returns one of these; every renderer reads them. The JSON layout of ``report.json``
and ``ipc<N>.json`` is spelled here and nowhere else. No torch, no Ray, no rendering."""
