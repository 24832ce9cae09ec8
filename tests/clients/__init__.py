"""Real clients of a live server: a generated Python client, and Postman's newman."""
