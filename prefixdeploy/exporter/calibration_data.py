"""The calibration text of int8's dynamic recipe (`optimize/smooth.py`), written for this project.

It is deliberately unlike verify's perplexity sample (`verify_data.py`), which measures the result: prose of another
kind, a dialogue, a list, numbers and code, so that the channels each kind of text drives are measured.
"""

CALIBRATION_TEXT = (
    "Minutes of the garden committee, Tuesday evening. Present: Ada, Bertrand, Chiara and Mr Okafor. The committee "
    "agreed that the north beds will be dug over before the first frost, and that the compost bins need new lids. "
    "Chiara reported that the water butt leaks at the tap; a replacement costs 14.50 and she will buy it on Friday. "
    "Bertrand asked whether the tomatoes could move to the greenhouse, and the committee said yes, if the glass is "
    "repaired first.\n\n"
    '"Did you lock the shed?" asked Ada.\n"I thought you had the key," said Mr Okafor.\n"I gave it back to you on '
    'Sunday." He searched his coat, found it in the inside pocket, and laughed.\n\n'
    "Shopping list: 2 kg flour, 12 eggs, butter (unsalted), 500 ml milk, lemons, dark chocolate 70%, baking powder.\n"
    "Timetable: 07:45 depart Leeds, 09:12 arrive York, 09:30 change for Scarborough, 10:41 arrive.\n\n"
    "The mitochondrion is the site of aerobic respiration in the cell. Glucose is broken down in a series of "
    "reactions that release energy, which the cell stores as ATP. Muscle cells, which need a great deal of energy, "
    "contain many more mitochondria than skin cells do.\n\n"
    "def moving_average(values, window):\n"
    "    if window <= 0:\n"
    "        raise ValueError('window must be positive')\n"
    "    total = sum(values[:window])\n"
    "    averages = [total / window]\n"
    "    for i in range(window, len(values)):\n"
    "        total += values[i] - values[i - window]\n"
    "        averages.append(total / window)\n"
    "    return averages\n\n"
    "Review: the hotel was clean and quiet, the staff friendly, but breakfast ended far too early at 9 o'clock and "
    "the coffee was weak. Would I stay again? Probably, for the location alone. Three stars out of five.\n\n"
    "Q: How many minutes are there in a week?\nA: 60 × 24 × 7 = 10,080 minutes.\n"
    "Q: Translate 'good morning' into French.\nA: Bonjour.\n\n"
    "In 1848 revolutions spread across Europe, from Paris to Vienna and Berlin. Most were suppressed within two "
    "years, yet several of the reforms they demanded, such as the end of serfdom in the Austrian lands, survived. "
    "Historians still argue about why the movements failed: divided aims, the loyalty of the armies, and the fear "
    "of the middle classes are the reasons most often given."
)
