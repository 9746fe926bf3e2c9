"""Where files come from and what they are: paths -> Sources.

The walk (discover.py, listing.py in a child process), Maildir folders,
content-type sniffing (classify.py), text decoding, HTML to text and file
facts (owner, mode). SMB shares read without a mount (smb/) give the same
Sources as the local walk. Imports only itself and the top-level modules.
"""
