import factory
from django.utils import timezone

from chats.tests.factories import ChatFactory
from messages_app.models import Message


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    chat = factory.SubFactory(ChatFactory)
    number = factory.Sequence(lambda n: n + 1)
    body = factory.Sequence(lambda n: f"message body {n}")
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.SelfAttribute("created_at")
