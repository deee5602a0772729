"""Word lists the sandbox catalogue builds realistic titles and usernames from.

Data only. Brand names are invented (so a generated title never names a real company),
and each brand belongs to one profile so a title's first word tells its price range.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    brands: tuple[str, ...]
    nouns: tuple[str, ...]
    features: tuple[str, ...]
    variants: tuple[str, ...]
    price_low: float
    price_high: float
    model_codes: bool = True  # electronics-style "Q47" after the brand


PROFILES: dict[str, Profile] = {
    "electronics": Profile(
        name="electronics",
        brands=("Sonvik", "Anvexa", "Qubitron", "Lumeral", "Voltaro", "Zentrix", "Auralink",
                "Nexora", "Kyvo", "Ortelle", "Pixora", "Trionix", "Veltra", "Soundrise",
                "Corevolt", "Blipzo"),
        nouns=("Wireless Earbuds", "Bluetooth Speaker", "Noise Cancelling Headphones",
               "USB C Charger", "Portable Power Bank", "Smart Plug", "4K Streaming Stick",
               "HDMI Cable", "Wireless Mouse", "Mechanical Keyboard", "1080p Webcam",
               "Smart Watch", "Fitness Tracker", "Phone Case", "Screen Protector",
               "Car Phone Mount", "Security Camera", "WiFi Extender", "Ring Light",
               "Gaming Headset", "Tablet Stand", "microSD Memory Card", "LED Strip Lights",
               "Wireless Charging Pad", "Laptop Stand", "USB Hub", "Game Controller"),
        features=("Bluetooth 5.3", "40H Playtime", "IPX7 Waterproof", "Fast Charging",
                  "Active Noise Cancelling", "Built-in Mic", "Touch Control",
                  "Compatible with iPhone and Android", "USB-C", "Long Battery Life",
                  "Works with Alexa", "Ultra Slim", "Lightweight", "Plug and Play",
                  "Magnetic", "Dual Band", "HD Night Vision"),
        variants=("Black", "White", "Navy Blue", "Silver", "Rose Gold", "Midnight Green",
                  "Graphite", "2 Pack", "3 Pack", "10ft", "6.6ft"),
        price_low=11.0,
        price_high=190.0,
    ),
    "home": Profile(
        name="home",
        brands=("Kitchora", "Homelux", "Brevana", "Casaluna", "Nordhaven", "Culina",
                "Serenova", "Pureview", "Tidyfold", "Oakhearth", "Vesselry", "Lumahaus"),
        nouns=("Air Fryer 5.8 QT", "Stainless Steel Cookware Set", "Vacuum Sealer Machine",
               "Electric Kettle", "Coffee Grinder", "Bamboo Cutting Board Set",
               "Storage Bins with Lids", "Memory Foam Pillow", "Weighted Blanket",
               "Shower Curtain Liner", "Non-Stick Frying Pan", "Knife Set with Block",
               "Food Storage Containers", "Cordless Stick Vacuum", "Cool Mist Humidifier",
               "Blackout Curtains", "Drawer Organizer", "Spice Rack Organizer",
               "Bed Sheet Set", "Ice Maker Countertop", "Handheld Milk Frother"),
        features=("BPA Free", "Dishwasher Safe", "Easy to Clean", "Space Saving",
                  "Non-Toxic", "Large Capacity", "1500W", "Quiet Operation", "Stackable",
                  "Machine Washable", "Rust Resistant", "Auto Shut-Off"),
        variants=("Grey", "Beige", "12 Piece", "Set of 4", "Queen Size", "King Size",
                  "6 Pack", "Matte Black", "White", "Sage Green"),
        price_low=9.0,
        price_high=150.0,
    ),
    "beauty": Profile(
        name="beauty",
        brands=("Glowelle", "Dermalux", "Purevia", "Velvessa", "Botaniq", "Clarique",
                "Mirava", "Hydrova", "Nuvella", "Vitaleaf", "Solenne", "Radiancia"),
        nouns=("Vitamin C Serum", "Hyaluronic Acid Moisturizer", "Retinol Night Cream",
               "Mineral Sunscreen SPF 50", "Hair Growth Oil", "Electric Toothbrush",
               "Collagen Peptides Powder", "Magnesium Glycinate Capsules",
               "Lip Sleeping Mask", "Makeup Remover Wipes", "Dry Shampoo", "Beard Trimmer",
               "Facial Cleansing Brush", "Probiotic Supplement", "Shampoo and Conditioner Set",
               "Heated Eyelash Curler", "Electrolyte Tablets", "Nasal Strips"),
        features=("For All Skin Types", "Fragrance Free", "Dermatologist Tested", "Vegan",
                  "Cruelty Free", "Travel Size", "60 Count", "Sulfate Free",
                  "Gentle Formula", "Non-GMO", "Gluten Free", "Clinically Tested"),
        variants=("1 fl oz", "2 Pack", "120 Capsules", "8.5 Fl Oz", "Unscented", "Lavender",
                  "30 Servings", "Coconut", "Original"),
        price_low=6.0,
        price_high=65.0,
    ),
    "toys": Profile(
        name="toys",
        brands=("Tinytrek", "Playvora", "Bloxo", "Kidoodle", "Wonderbee", "Jumbly", "Snuggo",
                "Pebblo", "Marblo", "Giggleton"),
        nouns=("Magnetic Building Tiles", "STEM Robot Kit", "Plush Toy", "Baby Monitor",
               "Diaper Bag Backpack", "Teething Toys", "Baby Play Mat", "Kids Tablet",
               "Remote Control Car", "Art Supplies Kit", "Stacking Cups", "Bath Toys Set",
               "Jigsaw Puzzle 1000 Pieces", "Card Game for Families", "Sensory Toys",
               "Baby Bottle Set", "Kids Walkie Talkies", "Toddler Scooter"),
        features=("For Ages 3+", "Educational", "BPA Free", "Montessori",
                  "Gift for Boys and Girls", "Washable", "Rechargeable", "100 Pieces",
                  "Non-Toxic", "Easy to Assemble"),
        variants=("Blue", "Pink", "Rainbow", "Dinosaur", "Unicorn", "Set of 6", "Large"),
        price_low=8.0,
        price_high=75.0,
    ),
    "books": Profile(
        name="books",
        brands=(),
        nouns=(),
        features=("A Novel", "A Memoir", "An Easy and Proven Way to Build Good Habits",
                  "Book 1 of the Ember Series", "A Thriller", "Stories", "A Cookbook",
                  "Lessons for a Better Life", "Deluxe Edition", "Collector's Edition"),
        variants=("Paperback", "Hardcover", "Vinyl LP", "Blu-ray", "Audio CD", "Large Print"),
        price_low=6.0,
        price_high=42.0,
        model_codes=False,
    ),
    "clothing": Profile(
        name="clothing",
        brands=("Urbanova", "Threadline", "Comfortique", "Northpeak", "Velourra", "Strideon",
                "Lunaris", "Kalora", "Fernway", "Juniperra"),
        nouns=("Women's Casual Summer Dress", "Men's Slim Fit Polo Shirt",
               "Compression Socks 6 Pairs", "High Waisted Yoga Pants", "Running Shoes",
               "Crossbody Bag", "Sterling Silver Hoop Earrings", "Fleece Hoodie",
               "Packing Cubes Set", "Carry On Luggage", "Wide Brim Sun Hat",
               "Touchscreen Winter Gloves", "Leather Belt", "Bamboo Boxer Briefs"),
        features=("Breathable", "Lightweight", "Moisture Wicking", "Soft and Stretchy",
                  "Non-Slip", "Hypoallergenic", "With Pockets", "Quick Dry"),
        variants=("Small", "Medium", "Large", "X-Large", "Black", "Navy", "Olive", "Size 8",
                  "Size 10"),
        price_low=10.0,
        price_high=85.0,
    ),
    "sports": Profile(
        name="sports",
        brands=("Trailmax", "Peakform", "Ironvale", "Aquavo", "Summitra", "Flexora",
                "Vantrek", "Ridgeline"),
        nouns=("Resistance Bands Set", "Adjustable Dumbbells", "Yoga Mat",
               "Insulated Water Bottle", "Camping Lantern", "Hiking Backpack 40L",
               "Weighted Jump Rope", "Foam Roller", "Pickleball Paddle Set", "Bike Phone Holder",
               "Massage Gun", "Sleeping Bag", "Trekking Poles", "Cooling Towel"),
        features=("Non-Slip", "Leak Proof", "Heavy Duty", "Portable", "With Carry Bag",
                  "Adjustable", "Ultralight", "BPA Free"),
        variants=("Black", "Teal", "32 oz", "40 oz", "Set of 5", "Orange", "Camo"),
        price_low=10.0,
        price_high=160.0,
    ),
    "pets": Profile(
        name="pets",
        brands=("Pawsome", "Furlytix", "Barkwell", "Whiskerly", "Tailbright", "Petvana"),
        nouns=("Dog Chew Toys", "Cat Scratching Post", "Pet Hair Remover",
               "No Pull Dog Harness", "Automatic Cat Feeder", "Calming Dog Bed",
               "Cat Litter Mat", "Dog Poop Bags 360 Count", "Pet Grooming Brush",
               "Aquarium Filter"),
        features=("For Small Medium Large Dogs", "Durable", "Washable", "Reflective",
                  "Easy to Clean", "Indestructible"),
        variants=("Small", "Medium", "Large", "Grey", "Blue", "Pack of 3"),
        price_low=7.0,
        price_high=70.0,
    ),
    "grocery": Profile(
        name="grocery",
        brands=("Harvestly", "Nutriva", "Goldcrest", "Sunmeadow", "Crispleaf", "Orchardine"),
        nouns=("Organic Green Tea 100 Bags", "Mixed Nuts 2 lb", "Protein Bars 12 Count",
               "Cold Brew Coffee Concentrate", "Extra Virgin Olive Oil", "Raw Honey 32 oz",
               "Electrolyte Powder Packets", "Dark Chocolate Variety Pack",
               "Sparkling Water 24 Pack", "Pink Himalayan Salt"),
        features=("Non-GMO", "Gluten Free", "Keto Friendly", "No Sugar Added", "Organic",
                  "Family Size"),
        variants=("Original", "Variety Pack", "Pack of 2", "Unsweetened", "Vanilla"),
        price_low=5.0,
        price_high=40.0,
    ),
    "office": Profile(
        name="office",
        brands=("Scriptora", "Deskwell", "Inkwise", "Colorvo", "Markly", "Papeterra"),
        nouns=("Gel Pens 24 Pack", "Spiral Notebook 5 Pack", "Desk Organizer",
               "Label Maker Machine", "Watercolor Paint Set", "Sticky Notes 12 Pads",
               "Acrylic Paint Markers", "Sketchbook", "Ergonomic Mouse Pad",
               "Laminator Machine", "Self Healing Cutting Mat", "Crochet Kit for Beginners"),
        features=("Quick Dry", "Acid Free", "Fine Point", "Assorted Colors", "Refillable",
                  "Premium Quality"),
        variants=("Assorted", "Black", "Pastel", "A5", "Letter Size", "Set of 12"),
        price_low=6.0,
        price_high=60.0,
    ),
    "tools": Profile(
        name="tools",
        brands=("Torqline", "Drivex", "Boltmaster", "Gearvo", "Roadvia", "Wrenchly", "Forgeon"),
        nouns=("Tire Inflator Portable Air Compressor", "Car Vacuum Cleaner",
               "Jump Starter 2000A", "Cordless Drill Set", "Socket Wrench Set",
               "Digital Tire Pressure Gauge", "Dash Cam Front and Rear", "Car Seat Organizer",
               "LED Headlight Bulbs", "Microfiber Cleaning Cloths", "Stud Finder",
               "Self Leveling Laser Level", "Work Gloves"),
        features=("Heavy Duty", "Rechargeable", "Auto Shut Off", "Cordless", "12V",
                  "With Storage Case", "Universal Fit"),
        variants=("Black", "Yellow", "20V", "2 Pack", "Set of 40", "H11"),
        price_low=10.0,
        price_high=170.0,
    ),
    "music": Profile(
        name="music",
        brands=("Melodix", "Tonecraft", "Harmonia", "Strumwell", "Resonel"),
        nouns=("Acoustic Guitar Strings", "Clip-On Tuner", "Ukulele Beginner Kit",
               "Guitar Capo", "Microphone Stand", "Digital Piano Keyboard 61 Keys",
               "Drum Practice Pad", "Condenser Microphone", "USB Audio Interface"),
        features=("For Beginners", "Professional", "Portable", "Lightweight", "Studio Quality"),
        variants=("Black", "Natural", "3 Pack", "Light Gauge", "Medium Gauge"),
        price_low=8.0,
        price_high=210.0,
    ),
    "garden": Profile(
        name="garden",
        brands=("Greenvale", "Bloomridge", "Yardista", "Terravine", "Mossmere"),
        nouns=("Solar Garden Lights", "Expandable Garden Hose 50ft", "Raised Garden Bed",
               "Bird Feeder", "Pruning Shears", "Plant Grow Light", "Outdoor String Lights",
               "Hose Nozzle Sprayer", "Garden Kneeler and Seat"),
        features=("Weatherproof", "Heavy Duty", "Solar Powered", "Auto On Off",
                  "Easy to Install", "Rust Proof"),
        variants=("Warm White", "Green", "8 Pack", "48ft", "Set of 2"),
        price_low=9.0,
        price_high=120.0,
    ),
}

# Department (as in collection/data/categories.json) → profile.
DEPARTMENT_PROFILES = {
    "Amazon Devices & Accessories": "electronics",
    "Appliances": "home",
    "Arts, Crafts & Sewing": "office",
    "Automotive": "tools",
    "Baby": "toys",
    "Beauty & Personal Care": "beauty",
    "Books": "books",
    "CDs & Vinyl": "books",
    "Cell Phones & Accessories": "electronics",
    "Clothing, Shoes & Jewelry": "clothing",
    "Collectibles & Fine Art": "office",
    "Computers": "electronics",
    "Electronics": "electronics",
    "Grocery & Gourmet Food": "grocery",
    "Handmade": "clothing",
    "Health & Household": "beauty",
    "Home & Kitchen": "home",
    "Industrial & Scientific": "tools",
    "Luggage & Travel Gear": "clothing",
    "Movies & TV": "books",
    "Musical Instruments": "music",
    "Office Products": "office",
    "Patio, Lawn & Garden": "garden",
    "Pet Supplies": "pets",
    "Software": "electronics",
    "Sports & Outdoors": "sports",
    "Tools & Home Improvement": "tools",
    "Toys & Games": "toys",
    "Video Games": "electronics",
}

# Book / media titles: "{first} {second} {third}: {subtitle}".
BOOK_FIRST = ("Midnight", "Silent", "Hidden", "Golden", "Broken", "Wild", "Quiet", "Lost",
              "Burning", "Crimson", "Atomic", "Tiny", "Endless", "Fourth", "Hollow",
              "Iron", "Paper", "Salt", "Winter", "Summer", "Northern", "Last", "Secret",
              "Velvet", "Glass", "Electric", "Distant", "Forgotten", "Bright", "Starless")
BOOK_SECOND = ("Garden", "River", "Habits", "Library", "Kingdom", "Orchard", "Light",
               "Ocean", "Mountain", "Promise", "Empire", "Harbor", "Daughter", "Witness",
               "Engine", "Atlas", "Lantern", "Forest", "Crown", "Island", "Mind", "Table",
               "Season", "Signal", "Compass", "Meadow")
BOOK_THIRD = ("Secrets", "Chronicles", "Rising", "Theory", "Letters", "Society", "Memory",
              "Paradox", "Diaries", "Keepers", "Protocol", "Reckoning", "Inheritance",
              "Method", "Wars", "Song", "Season", "Effect", "Code", "Hours")

# Username parts: realistic eBay handles (letters, digits, dots, underscores, hyphens).
USER_WORDS = ("deal", "deals", "best", "shop", "store", "outlet", "goods", "supply",
              "direct", "express", "hub", "mart", "world", "depot", "trading", "usa",
              "prime", "value", "smart", "home", "tech", "gadget", "plus", "zone", "city",
              "bargain", "discount", "finds", "market", "select", "choice", "global",
              "star", "sun", "blue", "eagle", "liberty", "peak", "urban", "happy", "lucky",
              "top", "quick", "fast", "savvy", "nova", "pro", "brand", "daily", "elite")
FIRST_NAMES = ("mike", "jen", "alex", "sam", "chris", "dave", "kim", "tony", "lisa", "matt",
               "nick", "amy", "josh", "kate", "ryan", "emma", "luis", "ana", "omar", "li",
               "raj", "sara", "ben", "zoe", "eric", "nina", "paul", "joy", "dan", "mia")
LAST_NAMES = ("smith", "jones", "lee", "brown", "garcia", "miller", "davis", "wilson",
              "moore", "taylor", "clark", "lewis", "walker", "young", "king", "wright",
              "lopez", "hill", "green", "baker", "nguyen", "patel", "khan", "chen")

LISTING_PREFIXES = ("", "", "", "", "NEW ", "New ", "Brand New ", "NEW - ", "🔥 ")
LISTING_SUFFIXES = ("", "", "", " - Fast Free Shipping", " | US Seller", " NEW", " FREE SHIP",
                    " (Sealed)", " - Ships Today")
FOREIGN_COUNTRIES = (("CN", "China"), ("GB", "United Kingdom"), ("DE", "Germany"),
                     ("HK", "Hong Kong"), ("CA", "Canada"))

# Hostile mode.
HOSTILE_MARKUP = (
    "<script>alert('xss')</script>",
    '"><img src=x onerror=alert(1)>',
    "<b onmouseover=alert(1)>hover</b>",
    "{{7*7}} ${7*7} <svg onload=alert(1)>",
    "</textarea><iframe src=javascript:alert(1)>",
)
# Latin letters → Cyrillic look-alikes (NFKC does NOT fold these: a different account).
HOMOGLYPHS = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х",
                            "y": "у", "i": "і"})
