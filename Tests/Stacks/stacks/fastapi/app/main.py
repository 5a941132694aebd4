import os
from typing import Optional

from fastapi import FastAPI

app = FastAPI()


@app.get('/')
def root():
    return {'message': 'Hello from FastAPI', 'port': os.environ.get('PORT')}


@app.get('/items/{item_id}')
def item(item_id: int, q: Optional[str] = None):
    return {'item_id': item_id, 'q': q}
