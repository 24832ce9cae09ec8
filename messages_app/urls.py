from django.urls import path

from messages_app.apis import MessageDetailApi, MessageListCreateApi

prefix = "apps/<str:token>/chats/<number:chat_number>/messages"

urlpatterns = [
    path(prefix, MessageListCreateApi.as_view(), name="message-list"),
    path(f"{prefix}/<number:number>", MessageDetailApi.as_view(), name="message-detail"),
]
