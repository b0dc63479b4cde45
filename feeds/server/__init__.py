"""HTTP over the current published build.

The Flask app factory and its thin views, the sending of a published
route's file, the publisher that follows the current build and starts
builders, the members' calendar, the access log and the development server.
A module here may import everything below it (``feeds.publish``,
``feeds.formats``, ``feeds.data`` and the shared top modules); only this
package and the commands load Flask, Werkzeug or gunicorn. It never imports
a command."""
