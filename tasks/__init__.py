"""Background work (Celery with Redis as broker) arrives with the Celery issue; nothing runs here yet."""
