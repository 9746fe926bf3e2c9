"""Is a command-line path an SMB location? Imports nothing: the CLI asks on every start."""


def is_smb(text: str) -> bool:
    """smb://HOST/..., //HOST/... or \\\\HOST\\... (not a local file)."""
    return text[:6].lower() == "smb://" or text.startswith(("//", "\\\\"))
