import factory
from django.utils import timezone

from applications.tests.factories import ApplicationFactory
from chats.models import Chat


class ChatFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Chat

    application = factory.SubFactory(ApplicationFactory)
    number = factory.Sequence(lambda n: n + 1)
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.SelfAttribute("created_at")
