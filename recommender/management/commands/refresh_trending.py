from django.core.management.base import BaseCommand

from recommender.services.trending import trending_refresh


class Command(BaseCommand):
    help = "Count recent feedback into the trending list (the periodic task's twin; safe to repeat)."

    def handle(self, *args, **options) -> None:
        kept = trending_refresh()
        self.stdout.write(f"Trending list refreshed: {kept} papers.")
