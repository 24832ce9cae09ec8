from django.urls import path

from chats.apis import ChatDetailApi, ChatListCreateApi

urlpatterns = [
    path("apps/<str:token>/chats", ChatListCreateApi.as_view(), name="chat-list"),
    path(
        "apps/<str:token>/chats/<number:chat_number>", ChatDetailApi.as_view(), name="chat-detail"
    ),
]
