"""Class-name lists of the semantic-segmentation datasets (pixel value → name), fixed as data.

- ADE20K (SceneParsing, ADEChallengeData2016 PNGs): 151 names, value 0 is `unlabeled`; values 0 and 255 are ignored.
- COCO-Stuff 164K (`stuffthingmaps_trainval2017` PNGs, 0-based: 0 = person, 255 = unlabeled): 182 names including the
  11 unused thing slots; the stuff classes whose names hold a hyphen (`wall-brick`, `floor-other`, ... — 28 of them)
  are ignored like LISA does, plus 255. `sky` is named without its official `-other` suffix so it stays a class.
- Mapillary Vistas v2.0 (`v2.0/labels` palette PNGs): 123 names; value 123 (`unlabeled`) and 255 are ignored.
"""

# fmt: off
ADE20K_CLASSES = (
    "unlabeled", "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass",
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car",
    "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence",
    "desk", "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path",
    "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge", "bookcase",
    "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm",
    "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus", "towel", "light",
    "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver", "airplane", "dirt track",
    "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van",
    "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool", "barrel",
    "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank", "trade name",
    "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce",
    "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor", "bulletin board",
    "shower", "radiator", "glass", "clock", "flag",
)

COCOSTUFF_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "street sign", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep",
    "cow", "elephant", "bear", "zebra", "giraffe", "hat", "backpack", "umbrella", "shoe", "eye glasses", "handbag",
    "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove",
    "skateboard", "surfboard", "tennis racket", "bottle", "plate", "wine glass", "cup", "fork", "knife", "spoon",
    "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake",
    "chair", "couch", "potted plant", "bed", "mirror", "dining table", "window", "desk", "toilet", "door", "tv",
    "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator",
    "blender", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush", "hair brush", "banner",
    "blanket", "branch", "bridge", "building-other", "bush", "cabinet", "cage", "cardboard", "carpet",
    "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds", "counter", "cupboard", "curtain", "desk-stuff",
    "dirt", "door-stuff", "fence", "floor-marble", "floor-other", "floor-stone", "floor-tile", "floor-wood", "flower",
    "fog", "food-other", "fruit", "furniture-other", "grass", "gravel", "ground-other", "hill", "house", "leaves",
    "light", "mat", "metal", "mirror-stuff", "moss", "mountain", "mud", "napkin", "net", "paper", "pavement",
    "pillow", "plant-other", "plastic", "platform", "playingfield", "railing", "railroad", "river", "road", "rock",
    "roof", "rug", "salad", "sand", "sea", "shelf", "sky", "skyscraper", "snow", "solid-other", "stairs", "stone",
    "straw", "structural-other", "table", "tent", "textile-other", "towel", "tree", "vegetable", "wall-brick",
    "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile", "wall-wood", "water-other", "waterdrops",
    "window-blind", "window-other", "wood",
)

MAPILLARY_CLASSES = (
    "bird", "ground animal", "ambiguous barrier", "concrete block", "curb", "fence", "guard rail", "barrier",
    "road median", "road side", "lane separator", "temporary barrier", "wall", "bike lane", "crosswalk - plain",
    "curb cut", "driveway", "parking", "parking aisle", "pedestrian area", "rail track", "road", "road shoulder",
    "service lane", "sidewalk", "traffic island", "bridge", "building", "garage", "tunnel", "person", "person group",
    "bicyclist", "motorcyclist", "other rider", "lane marking - dashed line", "lane marking - straight line",
    "lane marking - zigzag line", "lane marking - ambiguous", "lane marking - arrow (left)",
    "lane marking - arrow (other)", "lane marking - arrow (right)", "lane marking - arrow (split left or straight)",
    "lane marking - arrow (split right or straight)", "lane marking - arrow (straight)", "lane marking - crosswalk",
    "lane marking - give way (row)", "lane marking - give way (single)", "lane marking - hatched (chevron)",
    "lane marking - hatched (diagonal)", "lane marking - other", "lane marking - stop line",
    "lane marking - symbol (bicycle)", "lane marking - symbol (other)", "lane marking - text",
    "lane marking (only) - dashed line", "lane marking (only) - crosswalk", "lane marking (only) - other",
    "lane marking (only) - test", "mountain", "sand", "sky", "snow", "terrain", "vegetation", "water", "banner",
    "bench", "bike rack", "catch basin", "cctv camera", "fire hydrant", "junction box", "mailbox", "manhole",
    "parking meter", "phone booth", "pothole", "signage - advertisement", "signage - ambiguous", "signage - back",
    "signage - information", "signage - other", "signage - store", "street light", "pole", "pole group",
    "traffic sign frame", "utility pole", "traffic cone", "traffic light - general (single)",
    "traffic light - pedestrians", "traffic light - general (upright)", "traffic light - general (horizontal)",
    "traffic light - cyclists", "traffic light - other", "traffic sign - ambiguous", "traffic sign (back)",
    "traffic sign - direction (back)", "traffic sign - direction (front)", "traffic sign (front)",
    "traffic sign - parking", "traffic sign - temporary (back)", "traffic sign - temporary (front)", "trash can",
    "bicycle", "boat", "bus", "car", "caravan", "motorcycle", "on rails", "other vehicle", "trailer", "truck",
    "vehicle group", "wheeled slow", "water valve", "car mount", "dynamic", "ego vehicle", "ground", "static",
)
# fmt: on

ADE20K_IGNORE = (0, 255)
COCOSTUFF_IGNORE = (*(i for i, name in enumerate(COCOSTUFF_CLASSES) if "-" in name), 255)
MAPILLARY_IGNORE = (123, 255)

CLASS_LISTS = {
    "ade20k": (ADE20K_CLASSES, ADE20K_IGNORE),
    "cocostuff": (COCOSTUFF_CLASSES, COCOSTUFF_IGNORE),
    "mapillary": (MAPILLARY_CLASSES, MAPILLARY_IGNORE),
}
