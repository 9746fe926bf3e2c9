"""SMB shares read directly (SMB 2/3 through smbprotocol): no mount, no root.

`path` (is this an SMB location? imported by the CLI on every start, so this
package imports nothing here), `url` (locations and how reports name them),
`auth` (credentials), `client` (sessions, walk, compound reads), `wire` (the
messages of a small file's read and a folder's listing, packed with struct),
`channel` (sends them on a session's connection instead of smbprotocol), `dfs`
(which hosts a DFS link may lead to), `acl` (owner and exposure from a security
descriptor), `rpc` (DCE/RPC over a named pipe), `shares` (a server's shares:
srvsvc), `lsa` (owners' names: lsarpc), `scan` (a scan's SMB side: sources,
reads, facts) and `worker` (a worker process's own sessions). docs/smb.md says
what the server sees.
"""
