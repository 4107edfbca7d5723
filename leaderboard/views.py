from django.http import HttpResponse


def leaderboard(request):
    return HttpResponse("leaderboard")
