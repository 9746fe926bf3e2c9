"""Where files come from and what they are: paths -> Sources.

The walk (discover.py, listing.py in a child process), content-type sniffing
(classify.py), text decoding, HTML to text and file facts (owner, mode).
SMB shares read without a mount (smb*.py) give the same Sources as the
local walk. May import
extract's maildir helper and the top-level modules; never run or cache.
"""
