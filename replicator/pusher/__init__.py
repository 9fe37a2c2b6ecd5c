"""pusher"""
