"""What happens to findings after detection: suppressions, baseline, incidents.

suppress.py applies allowlists and inline markers (keeping what it suppressed
and why), baseline.py reads and writes baselines of hashes, incidents.py
groups findings per leak with owners and exposure. May import sources (file
owners) and the top-level modules; never run or cache.
"""
