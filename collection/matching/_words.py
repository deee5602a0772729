"""Word lists shared by the query builder and the match check (lower case, singular).

They describe how product titles are written on Amazon and eBay, not any one catalogue:
filler that dropshippers drop, decoration they add, colours, and the generic vocabulary
that look-alike products of other brands share ("wireless", "stainless", "set").
"""

# Dropped by dropshippers to save characters; never a query word, never evidence.
FILLER = frozenset(
    """a an the and or with without for of to in on by from at as into over under per plus
    is are be this that your you our it its compatible fits fit includes including include
    included &""".split()
)

# Words after these, inside one title segment, describe what the product is *for*
# ("for iPhone 15", "Compatible with Dyson V8"): often dropped, never the product's code.
COMPAT_MARKERS = frozenset({"for", "compatible", "fits", "fit"})

# Added by sellers ("NEW", "Fast Free Shipping", "US Seller"); ignored in a listing unless
# the Amazon title itself has the word.
DECORATION = frozenset(
    """new brand free fast shipping ship ships shipped us usa seller stock instock sale hot
    nib nwt bnib bnwt authentic genuine original oem latest version listing sealed lot
    deal deals discount cheap best top quality seller fast same day quick delivery
    warranty 2022 2023 2024 2025 2026 2027 uk eu au ca ship24h 24h ready retail
    """.split()
)

COLOURS = frozenset(
    """black white red blue green grey gray pink purple silver gold beige brown navy yellow
    orange clear transparent rose teal turquoise ivory cream tan khaki olive maroon burgundy
    charcoal multicolor multicolour multi coral mint lavender aqua champagne bronze copper
    violet magenta cyan indigo graphite midnight slate espresso walnut denim sage
    blush""".split()
)

# Size words that name a variant (bedding, clothing).
SIZE_WORDS = frozenset({"twin", "queen", "king", "xs", "xl", "xxl", "xxxl", "2xl", "3xl"})

# Units that follow a number: "40H", "10000mAh", "16 oz", "2-Pack". Mapped to one family so
# "2 Pack" and "Pack of 2" and "2 Count" compare.
UNITS = {
    "pack": "pack",
    "pk": "pack",
    "packs": "pack",
    "count": "pack",
    "ct": "pack",
    "pcs": "pack",
    "pc": "pack",
    "piece": "pack",
    "pieces": "pack",
    "pair": "pair",
    "pairs": "pair",
    "set": "pack",
    "sets": "pack",
    "rolls": "roll",
    "roll": "roll",
    "oz": "oz",
    "ounce": "oz",
    "ounces": "oz",
    "floz": "oz",
    "fl": "oz",
    "ml": "ml",
    "l": "l",
    "liter": "l",
    "litre": "l",
    "liters": "l",
    "litres": "l",
    "lb": "lb",
    "lbs": "lb",
    "pound": "lb",
    "pounds": "lb",
    "g": "g",
    "gram": "g",
    "grams": "g",
    "kg": "kg",
    "mg": "mg",
    "inch": "in",
    "inches": "in",
    "in": "in",
    "ft": "ft",
    "feet": "ft",
    "foot": "ft",
    "cm": "cm",
    "mm": "mm",
    "m": "m",
    "yd": "yd",
    "yards": "yd",
    "qt": "qt",
    "quart": "qt",
    "quarts": "qt",
    "gal": "gal",
    "gallon": "gal",
    "cup": "cup",
    "cups": "cup",
    "slice": "slice",
    "mah": "mah",
    "w": "w",
    "watt": "w",
    "watts": "w",
    "v": "v",
    "volt": "v",
    "hz": "hz",
    "khz": "khz",
    "gb": "gb",
    "tb": "tb",
    "mb": "mb",
    "h": "h",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "min": "min",
    "mins": "min",
    "p": "p",
    "k": "k",
    "mp": "mp",
    "x": "x",
    "db": "db",
    "psi": "psi",
    "cfm": "cfm",
    "rpm": "rpm",
    "btu": "btu",
    "qty": "pack",
    "sheets": "sheet",
    "sheet": "sheet",
    "capsules": "capsule",
    "capsule": "capsule",
    "tablets": "tablet",
    "softgels": "tablet",
    "gummies": "gummy",
    "servings": "serving",
    "wipes": "wipe",
    "bags": "bag",
    "pods": "pod",
    "tabs": "tab",
    "pages": "page",
    "seats": "seat",
    "person": "person",
    "speed": "speed",
    "iu": "iu",
    "mcg": "mcg",
    "lumen": "lumen",
    "lumens": "lumen",
}
# Units that name what a listing *is* (a variant): a different value is another product.
VARIANT_UNITS = frozenset(
    {
        "pack",
        "pair",
        "roll",
        "oz",
        "ml",
        "l",
        "lb",
        "g",
        "kg",
        "mg",
        "in",
        "ft",
        "cm",
        "mm",
        "m",
        "yd",
        "qt",
        "gal",
        "cup",
        "slice",
        "mah",
        "w",
        "gb",
        "tb",
        "h",
        "sheet",
        "capsule",
        "tablet",
        "gummy",
        "serving",
        "wipe",
        "bag",
        "pod",
        "tab",
        "seat",
        "person",
        "v",
        "page",
        "iu",
        "mcg",
        "lumen",
    }
)

# Letters+digits tokens that are features, not model codes.
GENERIC_CODES = frozenset(
    """4k 8k 2k 5k 1k 5g 4g 3g 3d 2d 4d mp3 mp4 ps4 ps5 a2dp h264 h265 usb2 usb3 ipx4 ipx5
    ipx6 ipx7 ipx8 ip65 ip66 ip67 ip68 ip54 ip44 x2 x3 x4 2x 3x 4x 5x 10x wifi6 wifi6e
    ddr4 ddr5 m2 i3 i5 i7 i9 rtx hdmi2 b12 b6 d3 k2 c1 e1 co2 h2o 1st 2nd 3rd 4th 5th 6th
    7th 8th 9th 10th 11th 12th 3in1 2in1 4in1 5in1 6in1 7in1 8in1 10in1 1pc 1pk a4 a5
    lr44 aa aaa cr2032 18650 r134a spf15 spf30 spf50 spf45 spf70 spf100 u2f q10 b3 b5 k1
    usb3.0 pm2 pm25 hepa13 h13 h11 h12 h14 2pcs 3pcs 4pcs 1080p 720p 1440p 2160p 4ply 3ply
    2ply 1ply""".split()
)

# Generic product vocabulary: product nouns and features that look-alikes of other brands
# share. A word here is weaker evidence and never taken for a brand.
GENERIC = frozenset(
    """wireless bluetooth earbud earphone headphone headset speaker charger charging cable
    cord adapter case cover screen protector phone cell smart watch band strap tablet laptop
    computer keyboard mouse pad monitor stand holder mount dock hub usb type portable mini
    rechargeable battery power bank fast quick noise cancelling canceling cancellation
    waterproof water resistant proof sport sports gaming game controller remote light led
    lamp bulb strip camera security indoor outdoor home kitchen office car travel electric
    digital automatic manual handheld cordless professional premium heavy duty durable
    upgraded upgrade improved adjustable foldable folding large small medium extra big
    tall long short wide slim thin thick lightweight soft hard ultra super high low
    stainless steel metal aluminum aluminium plastic silicone glass wood wooden bamboo
    cotton fleece leather nylon polyester wool linen microfiber memory foam ceramic
    cast iron nonstick non stick set kit piece pack bundle organizer storage container
    box bag basket bin shelf rack tray jar bottle cup mug tumbler lid insulated vacuum
    travel water coffee tea maker machine blender mixer toaster oven air fryer cooker
    pot pan skillet knife cutting board utensil spoon spatula tool tools accessory
    accessories replacement filter cleaner cleaning brush mop vacuum towel towels sheet
    blanket throw pillow pillowcase cushion mattress topper comforter duvet bed bedding
    curtain rug mat chair table desk sofa couch decor decoration wall hanging mirror frame
    clock fan heater humidifier diffuser purifier scale thermometer timer alarm
    women men woman man kid kids child children baby boy girl girls boys toddler adult
    unisex youth teen gift gifts birthday christmas holiday party wedding present
    shirt tshirt tee top tank dress skirt pant pants jean jeans short legging leggings
    jacket coat hoodie sweatshirt sweater sock socks shoe shoes sneaker sneakers boot
    boots sandal sandals slipper slippers hat cap beanie glove gloves scarf belt wallet
    purse backpack tote jewelry necklace bracelet earring earrings ring pendant chain
    sterling plated casual athletic running workout gym yoga fitness exercise training
    walking hiking camping fishing cycling bike bicycle ball balls net goal racket
    dumbbell weight weights resistance jump rope mat toy toys educational learning
    building block blocks brick bricks puzzle puzzles doll dolls figure figures action
    plush stuffed animal animals card cards board craft crafts art kit drawing painting
    coloring color colors book books edition paperback hardcover novel guide cookbook
    journal notebook planner pen pens pencil pencils marker markers paper sticker
    stickers tape glue scissors dog dogs cat cats pet pets puppy kitten treat treats
    chew chews food feeder bowl leash collar harness litter toy bed crate grooming
    shampoo conditioner hair skin face facial body hand cream lotion serum oil oils
    moisturizer cleanser wash soap scrub mask sunscreen lip balm makeup brush brushes
    nail nails polish perfume fragrance spray deodorant toothbrush toothpaste whitening
    teeth dental floss razor shaver trimmer dryer straightener curling iron comb
    vitamin vitamins supplement supplements protein powder capsule tablet natural
    organic vegan gluten sugar keto snack snacks drink drinks flavor flavored
    drill driver impact saw wrench screwdriver socket bit bits hammer level measuring
    tape flashlight headlamp work garden hose nozzle sprinkler planter lawn solar
    grill bbq cooler tent chair sleeping hammock lantern truck trucks car cars vehicle
    premium classic original style design modern vintage cute funny pattern print
    printed graphic compatible universal multi multipurpose purpose function
    functional multifunctional ergonomic comfortable comfort breathable stretch
    quick dry anti slip non-slip skid safe free bpa reusable disposable washable
    dishwasher microwave safe easy clean install installation assembly
    inch inches size sizes fit fits pro plus max ultra lite mini air se
    ipx7 ipx5 hd full 4k smart touch control app voice alexa google assistant
    hour hours playtime battery life day night week month year years""".split()
)
