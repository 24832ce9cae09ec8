"""The project's shared library: code the apps, the write engine (pipeline) and the project's
infrastructure (chatapi) all use, and which itself imports none of them."""
