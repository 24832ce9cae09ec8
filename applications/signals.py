"""What the application services tell the rest of the project.

- ``application_deleting``: an application's rows are about to be deleted; kwargs
  ``application_id`` (int) and ``token`` (str). Sent before the first row goes, in a
  transaction of its own, so that what a receiver records survives a deletion interrupted
  halfway (it is simply run again).
"""

from django.dispatch import Signal

application_deleting = Signal()
