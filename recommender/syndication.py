"""A reader's feed as Atom, at a secret address a feed reader can follow (Django's syndication framework)."""

from django.contrib.syndication.views import Feed
from django.http import Http404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed

from accounts.models import FeedLink
from recommender.engine.exchange import strip_unsafe
from recommender.selectors.collections import collection_feed, collection_shared
from recommender.selectors.feed import FeedItem, feed_for_user

FEED_ITEMS = 30


class SafeAtom1Feed(Atom1Feed):
    """Atom that leaves out the characters XML 1.0 cannot carry, so one bad paper in older rows cannot fail a whole feed."""

    def add_item(self, **kwargs) -> None:
        super().add_item(**{name: strip_unsafe(value) if isinstance(value, str) else value for name, value in kwargs.items()})


class PersonalFeed(Feed):
    feed_type = SafeAtom1Feed
    description_template = "recommender/feed_entry.html"

    def get_object(self, request, token: str):
        link = FeedLink.objects.select_related("user").filter(token=token, user__is_active=True).first()
        if link is None:
            raise Http404("No feed at this address (it may have been replaced).")
        return link.user

    def title(self, user) -> str:
        return f"Paperfeed for {user.username}"

    def subtitle(self, user) -> str:
        return "Papers picked for you, each with the reason it was picked."

    def link(self, user) -> str:
        return "/"

    def items(self, user) -> list[FeedItem]:
        return feed_for_user(user=user, limit=FEED_ITEMS)

    def item_title(self, item: FeedItem) -> str:
        return item.paper.title

    def item_link(self, item: FeedItem) -> str:
        return f"{item.paper.get_absolute_url()}?via=feed"

    def item_guid(self, item: FeedItem) -> str:
        return f"paperfeed:{item.paper.external_id}"

    def item_author_name(self, item: FeedItem) -> str:
        return ", ".join(item.paper.authors[:5])

    def item_updateddate(self, item: FeedItem):
        return item.paper.added_at


class CollectionFeed(PersonalFeed):
    """A shared collection's feed as Atom, at its read-only link (gone when the link is revoked)."""

    def get_object(self, request, token: str):
        collection = collection_shared(token=token)
        if collection is None:
            raise Http404("This link was revoked or never existed.")
        return collection

    def title(self, collection) -> str:
        return f"Paperfeed: {collection.name}"

    def subtitle(self, collection) -> str:
        return "Papers picked for this collection, each with the reason it was picked."

    def link(self, collection) -> str:
        return reverse("collection_shared", args=[collection.share_token])

    def items(self, collection) -> list[FeedItem]:
        return collection_feed(collection=collection, limit=FEED_ITEMS, for_owner=False)

    def item_link(self, item: FeedItem) -> str:
        return item.paper.get_absolute_url()  # a visitor's click, not a reader's feed
