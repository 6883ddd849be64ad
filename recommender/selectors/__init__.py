"""Functions that read. Views and the API call these to fetch what they show."""
