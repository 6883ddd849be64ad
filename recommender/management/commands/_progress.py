"""A tqdm progress bar for management commands."""

from tqdm import tqdm


def progress_bar(total: int, description: str) -> tqdm:
    """A bar on stderr; quiet when there is nothing to count."""
    return tqdm(total=total, desc=description, unit=" rows", unit_scale=True, disable=total == 0, leave=True)
