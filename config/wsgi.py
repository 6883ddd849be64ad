"""WSGI entry point (gunicorn config.wsgi): a web process.

A web process never loads a model in a request: a background thread checks for a newly activated one and swaps it in
when it is loaded (``recommender.model_store``), starting as the process starts. Workers, commands and the tests'
clients do not come through here, and load in the calling thread.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from recommender.model_store import store  # noqa: E402 (Django must be set up first)
from recommender.services.meaning import query_encoder_load_in_background  # noqa: E402

store.load_in_background()
query_encoder_load_in_background()
