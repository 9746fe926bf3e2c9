"""Where files come from and what they are: paths -> Sources.

The walk (discover.py, listing.py in a child process), content-type sniffing
(classify.py), text decoding, HTML to text and file facts (owner, mode).
New transports (an SMB share) go here beside the local walk. May import
extract's maildir helper and the top-level modules; never run or cache.
"""
