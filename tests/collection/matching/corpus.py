"""A hand-written corpus of Amazon best-seller titles and eBay listing titles about them.

Each product has:
- copies: what dropshippers list — the Amazon title cut at a word boundary before 80
  characters, brand (sometimes the model code) stripped, filler and punctuation dropped,
  feature phrases reordered or dropped, decorated ("NEW", "Fast Free Shipping").
- own: an ordinary seller's own short title for the same product (not a copy).
- lookalikes: the same kind of product from another brand, sharing the generic words.
- variants: a copy of a sibling ASIN (another pack size, capacity or colour).
Brands and model codes are made up where a real one would add nothing.
"""

PRODUCTS = [
    # ---------------------------------------------------------------- electronics
    dict(
        title="Sonvik Q47 Wireless Earbuds with Charging Case, Bluetooth 5.3 Headphones, "
        "40H Playtime, IPX7 Waterproof Sport Earphones for iPhone Android, Black",
        copies=[
            "Wireless Earbuds Charging Case Bluetooth 5.3 Headphones 40H Playtime IPX7",
            "NEW Q47 Wireless Earbuds with Charging Case Bluetooth 5.3 Headphones 40H",
            "Wireless Earbuds Bluetooth 5.3 Headphones IPX7 Waterproof 40H Playtime Black",
            "Wireless Earbuds with Charging Case, Bluetooth 5.3 Headphones - Fast Shipping",
        ],
        own=["Sonvik Q47 Earbuds Black"],
        lookalikes=[
            "TOZO T6 Wireless Earbuds Bluetooth 5.3 Headphones IPX8 Waterproof 50H Playtime",
            "Soundcore Life P2 Mini True Wireless Earbuds Bluetooth 5.3 Charging Case",
        ],
        variants=["Wireless Earbuds with Charging Case Bluetooth 5.3 Headphones 40H White"],
    ),
    dict(
        title="Anker Portable Charger, 10000mAh Power Bank with 22.5W Fast Charging, "
        "USB-C Battery Pack for iPhone 15/14/13, Samsung Galaxy, Pixel",
        copies=[
            "Portable Charger 10000mAh Power Bank 22.5W Fast Charging USB-C Battery Pack",
            "Portable Charger 10000mAh Power Bank with 22.5W Fast Charging - US Seller",
            "NEW Portable Charger Power Bank 10000mAh USB-C Battery Pack for iPhone 15",
        ],
        own=["Anker 10000mAh power bank"],
        lookalikes=[
            "INIU Portable Charger 20000mAh Power Bank 22.5W Fast Charging USB C",
            "Portable Charger 5000mAh Slim Power Bank Battery Pack for iPhone",
        ],
        variants=["Portable Charger 20000mAh Power Bank with 22.5W Fast Charging USB-C Battery"],
    ),
    dict(
        title="Amazon Basics USB-C to Lightning Cable Cord, MFi Certified Charger for "
        "Apple iPhone 14, 13, 12, 11, Pro Max, Mini, iPad, 6 Foot, White",
        copies=[
            "USB-C to Lightning Cable Cord MFi Certified Charger for Apple iPhone 14 13 12",
            "NEW USB C to Lightning Cable Cord MFi Certified Charger iPhone 6 Foot White",
        ],
        own=["iPhone charging cable 6ft"],
        lookalikes=["Belkin USB C to Lightning Cable 3ft MFi Certified Braided Charger Black"],
        variants=["USB-C to Lightning Cable Cord MFi Certified Charger iPhone 3 Foot White"],
    ),
    dict(
        title="Kasa Smart Plug HS103P4, Smart Home Wi-Fi Outlet Works with Alexa, Echo, "
        "Google Home & IFTTT, No Hub Required, Remote Control, 15 Amp, UL Certified, 4-Pack",
        copies=[
            "Smart Plug HS103P4 Smart Home Wi-Fi Outlet Works with Alexa Echo Google Home",
            "Smart Plug Smart Home Wi-Fi Outlet Works with Alexa Echo Google Home No Hub",
            "4-Pack Smart Plug Wi-Fi Outlet Works with Alexa Google Home Remote Control",
        ],
        own=["Kasa smart plugs lot of 4"],
        lookalikes=["GHome Smart Plug Mini Wi-Fi Outlet Works with Alexa Google Home 4 Pack"],
        variants=["Smart Plug Smart Home Wi-Fi Outlet Works with Alexa Echo Google Home 2-Pack"],
    ),
    dict(
        title="Logitech M510 Wireless Computer Mouse for PC with USB Unifying Receiver, Graphite",
        copies=[
            "M510 Wireless Computer Mouse for PC with USB Unifying Receiver Graphite",
            "Wireless Computer Mouse for PC with USB Unifying Receiver - Free Shipping",
        ],
        own=["Logitech M510 mouse"],
        lookalikes=["Amazon Basics 2.4 Ghz Wireless Computer Mouse with USB Receiver Black"],
        variants=[],
    ),
    dict(
        title="Apple AirTag",
        copies=["Apple AirTag NEW"],
        own=[],
        lookalikes=["Smart Tag Bluetooth Tracker Finder for Keys Wallet"],
        variants=[],
    ),
    # ---------------------------------------------------------------- home & kitchen
    dict(
        title="Stanley Quencher H2.0 FlowState Stainless Steel Vacuum Insulated Tumbler "
        "with Lid and Straw for Water, Iced Tea or Coffee, Smoothie and More, 40 oz",
        copies=[
            "Quencher H2.0 FlowState Stainless Steel Vacuum Insulated Tumbler Lid Straw",
            "Stainless Steel Vacuum Insulated Tumbler with Lid and Straw 40 oz NEW",
            "Quencher FlowState Stainless Steel Vacuum Insulated Tumbler with Lid Straw 40oz",
        ],
        own=["Stanley 40oz tumbler pink"],
        lookalikes=[
            "Simple Modern 40 oz Tumbler with Handle and Straw Lid Insulated Stainless Steel",
        ],
        variants=["Quencher H2.0 FlowState Stainless Steel Vacuum Insulated Tumbler 30 oz"],
    ),
    dict(
        title="Ninja AF101 Air Fryer that Crisps, Roasts, Reheats, & Dehydrates, for Quick, "
        "Easy Meals, 4 Quart Capacity, & High Gloss Finish, Black/Grey",
        copies=[
            "AF101 Air Fryer that Crisps Roasts Reheats Dehydrates Quick Easy Meals 4 Quart",
            "Air Fryer that Crisps Roasts Reheats & Dehydrates for Quick Easy Meals 4 Quart",
            "NEW Air Fryer Crisps Roasts Reheats Dehydrates 4 Quart Black Grey",
        ],
        own=["Ninja air fryer 4 qt"],
        lookalikes=["COSORI Pro LE Air Fryer 5 Qt Quick Easy Meals Roasts Reheats Dehydrates"],
        variants=["AF101 Air Fryer that Crisps Roasts Reheats Dehydrates Quick Easy Meals 6 Quart"],
    ),
    dict(
        title="Bedsure Fleece Throw Blanket for Couch Grey - Lightweight Plush Fuzzy Cozy "
        "Soft Blankets and Throws for Sofa, 50x60 inches",
        copies=[
            "Fleece Throw Blanket for Couch Grey Lightweight Plush Fuzzy Cozy Soft Blankets",
            "Fleece Throw Blanket Couch Lightweight Plush Fuzzy Cozy Soft Blankets Sofa Grey",
            "NEW Fleece Throw Blanket for Couch Grey Lightweight Plush Fuzzy - Free Ship",
        ],
        own=["Grey fleece blanket 50x60"],
        lookalikes=["Utopia Bedding Fleece Blanket Throw Size Grey 300GSM Luxury Soft Couch"],
        variants=["Fleece Throw Blanket for Couch Navy Lightweight Plush Fuzzy Cozy Soft Blankets"],
    ),
    dict(
        title="Hamilton Beach 2-Slice Toaster with Extra-Wide Slots, Bagel Setting, "
        "Toast Boost, Slide-Out Crumb Tray, Auto-Shutoff, Black (22633)",
        copies=[
            "2-Slice Toaster with Extra-Wide Slots Bagel Setting Toast Boost Crumb Tray",
            "2-Slice Toaster Extra-Wide Slots Bagel Setting Toast Boost Slide-Out Crumb Tray",
            "Toaster with Extra-Wide Slots, Bagel Setting, Toast Boost, Black - US Seller",
        ],
        own=["Hamilton Beach toaster black"],
        lookalikes=["Cuisinart 2-Slice Toaster CPT-122 Compact Plastic Bagel Setting Black"],
        variants=["4-Slice Toaster with Extra-Wide Slots Bagel Setting Toast Boost Crumb Tray"],
    ),
    dict(
        title="Utopia Kitchen Cast Iron Skillet 12 Inch Pre-Seasoned Frying Pan for "
        "Indoor and Outdoor Cooking, Safe Grill Cookware for Stove Top and Oven",
        copies=[
            "Cast Iron Skillet 12 Inch Pre-Seasoned Frying Pan Indoor and Outdoor Cooking",
            "Cast Iron Skillet 12 Inch Pre-Seasoned Frying Pan Safe Grill Cookware Stove Top",
        ],
        own=["12 inch cast iron pan"],
        lookalikes=["Lodge L10SK3 12 Inch Cast Iron Skillet Pre-Seasoned Oven Safe Cookware"],
        variants=["Cast Iron Skillet 10 Inch Pre-Seasoned Frying Pan Indoor and Outdoor Cooking"],
    ),
    dict(
        title="Mr. Coffee 12-Cup Programmable Coffee Maker with Strong Brew Selector, "
        "Stainless Steel",
        copies=[
            "12-Cup Programmable Coffee Maker with Strong Brew Selector Stainless Steel",
            "NEW 12 Cup Programmable Coffee Maker Strong Brew Selector Fast Free Shipping",
        ],
        own=["Mr Coffee coffeemaker"],
        lookalikes=["BLACK+DECKER 12-Cup Digital Coffee Maker CM1160B Programmable Washable"],
        variants=[],
    ),
    # ---------------------------------------------------------------- beauty
    dict(
        title="COSRX Snail Mucin 96% Power Repairing Essence 3.38 fl.oz 100ml, Hydrating "
        "Serum for Face with Snail Secretion Filtrate for Dull Skin & Fine Lines, Korean "
        "Skin Care",
        copies=[
            "Snail Mucin 96% Power Repairing Essence 3.38 fl.oz 100ml Hydrating Serum Face",
            "Snail Mucin 96% Power Repairing Essence 100ml Hydrating Serum Korean Skin Care",
        ],
        own=["COSRX snail essence 100ml"],
        lookalikes=["Snail Mucin Serum 92% Repairing Essence Korean Skin Care Hydrating 50ml"],
        variants=["Snail Mucin 96% Power Repairing Essence 50ml Hydrating Serum for Face"],
    ),
    dict(
        title="Crest 3D White Professional Effects Whitestrips Teeth Whitening Strips Kit, "
        "22 Treatments, 20 Count + 2 Bonus",
        copies=[
            "3D White Professional Effects Whitestrips Teeth Whitening Strips Kit 20 Count",
            "Professional Effects Whitestrips Teeth Whitening Strips Kit 22 Treatments NEW",
        ],
        own=["Crest whitestrips"],
        lookalikes=["Teeth Whitening Strips Kit 28 Treatments Professional Enamel Safe Strips"],
        variants=[],
    ),
    dict(
        title="CeraVe Moisturizing Cream | Body and Face Moisturizer for Dry Skin | Body "
        "Cream with Hyaluronic Acid and Ceramides | Daily Moisturizer | Fragrance Free | "
        "19 Ounce",
        copies=[
            "Moisturizing Cream Body and Face Moisturizer for Dry Skin Hyaluronic Acid 19 oz",
            "Moisturizing Cream Body Face Moisturizer Dry Skin Body Cream Hyaluronic Acid",
        ],
        own=["CeraVe cream 19oz"],
        lookalikes=["Cetaphil Moisturizing Cream for Dry Sensitive Skin Body and Face 20 oz"],
        variants=["Moisturizing Cream Body and Face Moisturizer for Dry Skin Hyaluronic 12 oz"],
    ),
    dict(
        title="Revlon One-Step Volumizer PLUS 2.0 Hair Dryer and Hot Air Brush, Black",
        copies=[
            "One-Step Volumizer PLUS 2.0 Hair Dryer and Hot Air Brush Black",
            "NEW One Step Volumizer Plus 2.0 Hair Dryer Hot Air Brush Fast Free Shipping",
        ],
        own=["Revlon hair dryer brush"],
        lookalikes=["Hot Air Brush One Step Hair Dryer Volumizer Negative Ion Blow Dryer Brush"],
        variants=[],
    ),
    # ---------------------------------------------------------------- toys
    dict(
        title="LEGO Classic Large Creative Brick Box 10698 Building Toy Set for Kids, Boys "
        "and Girls Ages 4-99, with Storage Box (790 Pieces)",
        copies=[
            "Classic Large Creative Brick Box 10698 Building Toy Set for Kids Boys and Girls",
            "Large Creative Brick Box Building Toy Set for Kids Boys Girls 790 Pieces NEW",
        ],
        own=["Lego 10698 sealed"],
        lookalikes=["Classic Building Bricks Set 1000 Pieces Creative Brick Box Compatible Kids"],
        variants=[],
    ),
    dict(
        title="Melissa & Doug Wooden Building Blocks Set - 100 Blocks in 4 Colors and 9 "
        "Shapes - FSC Certified",
        copies=[
            "Wooden Building Blocks Set 100 Blocks in 4 Colors and 9 Shapes FSC Certified",
            "Wooden Building Blocks Set - 100 Blocks 4 Colors 9 Shapes - Fast Shipping",
        ],
        own=["wooden blocks for toddlers 100 pcs"],
        lookalikes=["Wooden Building Blocks Set 50 Pcs Natural Wood Stacking Toy for Toddlers"],
        variants=[],
    ),
    dict(
        title="Hot Wheels Monster Trucks Glow in the Dark 4-Pack, Toy Monster Trucks in "
        "1:64 Scale with Giant Wheels",
        copies=[
            "Monster Trucks Glow in the Dark 4-Pack Toy Monster Trucks 1:64 Scale Giant",
            "Hot Wheels Monster Trucks Glow in the Dark 4 Pack 1:64 Scale NEW",
        ],
        own=["hot wheels monster truck lot"],
        lookalikes=["Monster Truck Toys 6 Pack Friction Powered Cars for Boys Glow Wheels"],
        variants=["Monster Trucks Glow in the Dark 2-Pack Toy Monster Trucks 1:64 Scale Giant"],
    ),
    dict(
        title="Squishmallows Original 14-Inch Cam the Cat - Official Jazwares Large Plush",
        copies=[
            "Squishmallows 14-Inch Cam the Cat Official Jazwares Large Plush NEW",
            "Original 14-Inch Cam the Cat - Official Large Plush - Fast Free Shipping",
        ],
        own=["Cam the cat squishmallow"],
        lookalikes=["Cat Plush Toy 14 Inch Soft Stuffed Animal Pillow Kawaii Gift"],
        variants=["Squishmallows Original 8-Inch Cam the Cat Official Jazwares Plush"],
    ),
    # ---------------------------------------------------------------- pet
    dict(
        title="Chuckit! Ultra Ball Dog Toy, Medium (2.5 Inch Diameter) Pack of 2, for "
        "breeds 20-60 lbs",
        copies=[
            "Ultra Ball Dog Toy Medium 2.5 Inch Diameter Pack of 2 for breeds 20-60 lbs",
            "Ultra Ball Dog Toy Medium 2.5 Inch Pack of 2 NEW Free Shipping",
        ],
        own=["chuckit balls 2"],
        lookalikes=["Rubber Dog Ball Toy Medium 2.5 Inch Bouncy Fetch Balls for Dogs 4 Pack"],
        variants=["Ultra Ball Dog Toy Medium 2.5 Inch Diameter Pack of 4 for breeds 20-60 lbs"],
    ),
    dict(
        title="Frisco Cat Tree with Condo, Scratching Posts & Hammock, 52-in, Gray",
        copies=[
            "Cat Tree with Condo Scratching Posts Hammock 52-in Gray",
            "Cat Tree Condo Scratching Posts & Hammock 52 in Gray - US Seller Fast",
        ],
        own=["52 inch cat tree"],
        lookalikes=["Cat Tree Tower 54 Inch Multi-Level Condo with Scratching Posts Hammock"],
        variants=["Cat Tree with Condo Scratching Posts Hammock 52-in Beige"],
    ),
    dict(
        title="Greenies Original Regular Natural Dental Care Dog Treats, 36 oz. Pack (36 Treats)",
        copies=[
            "Greenies Original Regular Natural Dental Care Dog Treats 36 oz Pack 36 Treats",
            "Original Regular Natural Dental Care Dog Treats 36 oz Pack NEW Sealed",
        ],
        own=["Greenies regular 36 count"],
        lookalikes=["Dental Chews for Dogs Natural Dental Care Dog Treats Regular 30 Count"],
        variants=["Greenies Original Regular Natural Dental Care Dog Treats 18 oz Pack"],
    ),
    dict(
        title="Pet Hair Remover Roller - Dog & Cat Fur Remover with Self-Cleaning Base - "
        "Efficient Animal Hair Removal Tool - Perfect for Furniture, Couch, Carpet",
        copies=[
            "Pet Hair Remover Roller Dog Cat Fur Remover with Self-Cleaning Base Efficient",
            "Pet Hair Remover Roller - Dog & Cat Fur Remover Self-Cleaning Base - Fast Ship",
        ],
        own=["pet hair roller reusable"],
        lookalikes=["Lint Roller Pet Hair Remover 5 Refills Sticky Dog Cat Hair Clothes"],
        variants=[],
    ),
    # ---------------------------------------------------------------- sports & outdoors
    dict(
        title="Gaiam Essentials Thick Yoga Mat Fitness & Exercise Mat with Easy-Cinch "
        'Carrier Strap, 72"L x 24"W x 2/5 Inch Thick, Purple',
        copies=[
            "Essentials Thick Yoga Mat Fitness Exercise Mat with Easy-Cinch Carrier Strap",
            "Thick Yoga Mat Fitness & Exercise Mat Easy-Cinch Carrier Strap Purple NEW",
        ],
        own=["purple yoga mat thick"],
        lookalikes=["BalanceFrom GoYoga All-Purpose 1/4-Inch Yoga Mat with Carrying Strap"],
        variants=["Essentials Thick Yoga Mat Fitness Exercise Mat Easy-Cinch Carrier Strap Navy"],
    ),
    dict(
        title="Owala FreeSip Insulated Stainless Steel Water Bottle with Straw for Sports, "
        "Travel, and School BPA-Free Sports Water Bottle, 24 oz, Denim",
        copies=[
            "FreeSip Insulated Stainless Steel Water Bottle with Straw for Sports Travel",
            "Insulated Stainless Steel Water Bottle with Straw Sports Travel School 24 oz",
        ],
        own=["Owala 24oz bottle"],
        lookalikes=["Hydro Flask Wide Mouth Straw Lid Insulated Stainless Steel Water Bottle"],
        variants=["FreeSip Insulated Stainless Steel Water Bottle with Straw for Sports 32 oz"],
    ),
    dict(
        title="Amazon Basics Neoprene Coated Hexagon Workout Dumbbell Hand Weight, 10 Pounds, Gray",
        copies=[
            "Neoprene Coated Hexagon Workout Dumbbell Hand Weight 10 Pounds Gray",
            "Neoprene Coated Hexagon Workout Dumbbell Hand Weight 10 lb NEW Free Shipping",
        ],
        own=["10 lb dumbbell"],
        lookalikes=["CAP Barbell Neoprene Dumbbell Hand Weight Hex Shape 10 lb Single"],
        variants=["Neoprene Coated Hexagon Workout Dumbbell Hand Weight 15 Pounds Gray"],
    ),
    dict(
        title="Coleman Sundome Camping Tent, 2/3/4/6 Person Dome Tent with Snag-Free Poles "
        "for Easy Setup in Under 10 Mins, Included Rainfly Blocks Wind & Rain",
        copies=[
            "Sundome Camping Tent Dome Tent with Snag-Free Poles for Easy Setup Rainfly",
            "Camping Tent Dome Tent Snag-Free Poles Easy Setup Under 10 Mins Rainfly",
        ],
        own=["coleman tent 4 person"],
        lookalikes=["Camping Tent 4 Person Waterproof Dome Tent Easy Setup Family Tent Rainfly"],
        variants=[],
    ),
    # ---------------------------------------------------------------- tools
    dict(
        title="DEWALT 20V Max Cordless Drill/Driver Kit, Compact, 1/2-Inch, with Battery "
        "and Charger (DCD771C2)",
        copies=[
            "20V Max Cordless Drill Driver Kit Compact 1/2-Inch with Battery and Charger",
            "DCD771C2 20V Max Cordless Drill/Driver Kit Compact 1/2 Inch Battery Charger",
        ],
        own=["Dewalt drill DCD771"],
        lookalikes=["20V Cordless Drill Driver Kit 1/2 Inch Keyless Chuck with Battery Charger"],
        variants=[],
    ),
    dict(
        title="WORKPRO 322-Piece Home Repair Tool Set, General Household Hand Tool Kit with "
        "Plastic Toolbox Storage Case",
        copies=[
            "322-Piece Home Repair Tool Set General Household Hand Tool Kit Plastic Toolbox",
            "Home Repair Tool Set General Household Hand Tool Kit with Toolbox Storage Case",
        ],
        own=["household tool kit big"],
        lookalikes=["CARTMAN 148-Piece Tool Set General Household Hand Tool Kit Storage Case"],
        variants=["156-Piece Home Repair Tool Set General Household Hand Tool Kit Toolbox"],
    ),
    dict(
        title="Rechargeable LED Headlamp, 230° Wide Beam Head Lamp with Motion Sensor, "
        "Waterproof Headlight for Camping, Running, Hiking, Fishing, 2 Pack",
        copies=[
            "Rechargeable LED Headlamp 230 Wide Beam Head Lamp with Motion Sensor 2 Pack",
            "LED Headlamp Rechargeable Wide Beam Head Lamp Motion Sensor Waterproof 2 Pack",
        ],
        own=["headlamp 2pk"],
        lookalikes=["LED Headlamp Rechargeable 1200 Lumen Super Bright Head Lamp Red Light"],
        variants=["Rechargeable LED Headlamp 230 Wide Beam Head Lamp with Motion Sensor 4 Pack"],
    ),
    # ---------------------------------------------------------------- clothing
    dict(
        title="Hanes Men's EcoSmart Fleece Sweatshirt, Cotton-Blend Pullover, Crewneck "
        "Sweatshirt for Men, 1 or 2 Pack",
        copies=[
            "Men's EcoSmart Fleece Sweatshirt Cotton-Blend Pullover Crewneck Sweatshirt",
            "Mens EcoSmart Fleece Sweatshirt Cotton Blend Pullover Crewneck NEW",
        ],
        own=["hanes crewneck sweatshirt L"],
        lookalikes=["Gildan Men's Fleece Crewneck Sweatshirt Style G18000 Pullover"],
        variants=[],
    ),
    dict(
        title="Crocs Unisex-Adult Classic Clogs",
        copies=["Unisex-Adult Classic Clogs NEW"],
        own=["crocs classic clog size 9"],
        lookalikes=["Garden Clogs Unisex Adult Classic Slip On Shoes Sandals"],
        variants=[],
    ),
    dict(
        title="Fruit of the Loom Women's Eversoft Cotton Bikini Underwear, Tag Free & "
        "Breathable, Available in Plus Size",
        copies=[
            "Women's Eversoft Cotton Bikini Underwear Tag Free & Breathable Plus Size",
            "Womens Eversoft Cotton Bikini Underwear Tag Free Breathable Fast Shipping",
        ],
        own=["cotton bikini panties 6 pack"],
        lookalikes=["Hanes Women's Cotton Bikini Underwear Tagless Breathable Multipack"],
        variants=[],
    ),
    dict(
        title="Carhartt Men's Knit Cuffed Beanie, Black, One Size",
        copies=["Men's Knit Cuffed Beanie Black One Size", "Knit Cuffed Beanie Black NEW"],
        own=["carhartt hat black"],
        lookalikes=["Men's Knit Cuffed Beanie Winter Hat Warm Skull Cap Black Acrylic"],
        variants=["Men's Knit Cuffed Beanie Brown One Size"],
    ),
    # ---------------------------------------------------------------- books
    dict(
        title="Atomic Habits: An Easy & Proven Way to Build Good Habits & Break Bad Ones",
        copies=[
            "Atomic Habits An Easy & Proven Way to Build Good Habits & Break Bad Ones",
            "Atomic Habits Easy Proven Way to Build Good Habits Break Bad Ones Paperback NEW",
        ],
        own=["atomic habits james clear hardcover"],
        lookalikes=["Tiny Habits The Small Changes That Change Everything Paperback"],
        variants=[],
    ),
    dict(
        title="The Very Hungry Caterpillar",
        copies=["The Very Hungry Caterpillar Board Book NEW"],
        own=[],
        lookalikes=["The Very Busy Spider Board Book"],
        variants=[],
    ),
    dict(
        title="Dog Man: The Scarlet Shedder: A Graphic Novel (Dog Man #12): From the "
        "Creator of Captain Underpants",
        copies=[
            "Dog Man The Scarlet Shedder A Graphic Novel Dog Man #12 From the Creator of",
            "Dog Man: The Scarlet Shedder Graphic Novel (Dog Man #12) Hardcover",
        ],
        own=["dog man book 12"],
        lookalikes=["Dog Man: Big Jim Begins A Graphic Novel (Dog Man #13)"],
        variants=[],
    ),
    # ---------------------------------------------------------------- baby / health / office
    dict(
        title="Pampers Swaddlers Diapers - Size 1 (8-14 lbs), 198 Count, Disposable Baby Diapers",
        copies=[
            "Swaddlers Diapers Size 1 8-14 lbs 198 Count Disposable Baby Diapers",
            "Pampers Swaddlers Diapers Size 1 8-14 lbs 198 Count Disposable Baby NEW",
        ],
        own=["pampers size 1 box"],
        lookalikes=["Huggies Little Snugglers Baby Diapers Size 1 198 Count Disposable"],
        variants=["Swaddlers Diapers Size 1 8-14 lbs 84 Count Disposable Baby Diapers"],
    ),
    dict(
        title="Nature Made Vitamin D3 5000 IU (125 mcg) Softgels, Dietary Supplement for "
        "Bone, Teeth, Muscle and Immune Health Support, 90 Softgels, 90 Day Supply",
        copies=[
            "Vitamin D3 5000 IU 125 mcg Softgels Dietary Supplement Bone Teeth Muscle Immune",
            "Vitamin D3 5000 IU Softgels Dietary Supplement for Bone Teeth Muscle 90 Softgels",
        ],
        own=["vitamin d 5000 iu 90 ct"],
        lookalikes=["Vitamin D3 K2 5000 IU Supplement Immune Bone Support 120 Softgels"],
        variants=[],
    ),
    dict(
        title="Sharpie Permanent Markers, Fine Point, Assorted Colors, 24 Count",
        copies=[
            "Sharpie Permanent Markers Fine Point Assorted Colors 24 Count NEW",
            "Permanent Markers Fine Point Assorted Colors 24 Count - Free Shipping",
        ],
        own=["sharpies 24"],
        lookalikes=["Permanent Markers Fine Tip Assorted Colors 30 Pack Art Markers Set"],
        variants=["Sharpie Permanent Markers Fine Point Assorted Colors 12 Count"],
    ),
]

# Listings that have nothing to do with the product searched (what a broad query drags in).
UNRELATED = [
    "Vintage Levi's 501 Jeans 32x30 Made in USA",
    "iPhone 13 Pro Max 128GB Unlocked Sierra Blue Good Condition",
    "Lot of 10 Pokemon Cards Holo Rare",
    "Replacement Remote Control for Samsung Smart TV",
]
