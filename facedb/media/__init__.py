"""Where pixels come from: images decoded within a budget, frame sources (files, folders, videos, cameras, streams)."""
