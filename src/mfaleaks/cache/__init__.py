"""What earlier reading found, so the same bytes are not read twice.

store.py is the scan cache (--cache, SQLite, masked codes only) that a rescan
asks before opening a file; record.py turns a file's results into a record
without its location and back; contents.py and children.py are each worker's
memory of contents and children read in this scan (copies read once).
May import extract.base, sources (listing) and the top-level modules; never
run.
"""
