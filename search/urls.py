from django.urls import path

from search.apis import MessageSearchApi

# Included before messages_app.urls, whose <number:number> could never match "search" anyway.
urlpatterns = [
    path(
        "apps/<str:token>/chats/<number:chat_number>/messages/search",
        MessageSearchApi.as_view(),
        name="message-search",
    ),
]
