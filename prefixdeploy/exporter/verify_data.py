"""The default prompt set and perplexity sample of `prefixdeploy verify` (written for this project)."""

DEFAULT_PROMPTS = (
    "The quick brown fox",
    "Once upon a time, in a small village,",
    "Question: what is the capital of France? Answer:",
    "The best way to learn a new language is",
    "Here is a short recipe for pancakes:",
    "In 1969, the first humans",
    "def fibonacci(n):",
    "The weather today is",
    "Dear customer, thank you for",
    "Three reasons to visit the mountains in winter:",
    "The main difference between a virus and a bacterium is",
    "My favourite book is",
    "To install the package, run",
    "The train left the station at",
    "Photosynthesis is the process by which",
    "List of planets in the solar system:",
    "She opened the door and saw",
    "A good night's sleep helps",
    "The meeting has been moved to",
    "Water boils at",
)

DEFAULT_TEXT = (
    "The harbour town woke slowly. Fishing boats came back before sunrise, and by the time the bakery opened its "
    "shutters the quay smelled of salt, diesel and fresh bread. Most people who lived there had never moved away; "
    "they knew the tides the way other people know the bus timetable. In summer the population doubled. Visitors "
    "rented the small white houses on the hill, walked the cliff path to the lighthouse and ate grilled sardines at "
    "long tables by the water. In winter the town belonged to itself again. The school had forty children, the "
    "library opened three afternoons a week, and the ferry to the mainland ran only when the sea allowed it.\n\n"
    "A language model predicts the next word from the words before it. It is trained on a large amount of text, "
    "and what it learns is stored in its weights: millions of numbers that shape how each word influences the next. "
    "Adapting such a model to a new task used to mean changing all of those numbers. Newer methods keep the model "
    "frozen and learn a small set of extra parameters instead, which can be stored separately and swapped at will. "
    "This makes it cheap to serve many tasks with one model, because only the small task-specific part changes from "
    "one request to the next.\n\n"
    "Good soup starts with patience. Onions are cooked gently in butter until they are soft and sweet, then the "
    "vegetables go in, followed by stock and a bay leaf. After half an hour on a low heat the soup is blended, "
    "seasoned and finished with a spoonful of cream."
)
