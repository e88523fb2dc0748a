from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from bench.common import BASELINE_PATH
from soc.urls import urlpatterns as soc_urlpatterns


@csrf_exempt
def baseline(request: HttpRequest) -> HttpResponse:
    """What any Django view must do with a webhook post: read the whole body, answer 200.
    read() rather than .body, which would refuse posts over Django's 2.5 MB limit."""
    request.read()
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path(BASELINE_PATH.strip("/") + "/", baseline), *soc_urlpatterns]
