"""Near-miss question pairs for measuring the semantic cache: each pair asks almost the same thing,
but one answer would be wrong for the other question. Every pair is a negative: a cache that
answers one with the other's entry is wrong.

Written by hand for this project, in five groups: another entity, another number, another date,
another language, a negation. PARAPHRASES are questions phrased two ways that mean the same
(positives in the same style), so precision and hit rate can be read on one kind of text.
"""

from __future__ import annotations

ENTITY: tuple[tuple[str, str], ...] = (
    ("What is the capital of France?", "What is the capital of Germany?"),
    ("What is the capital of Spain?", "What is the capital of Portugal?"),
    ("What is the population of Tokyo?", "What is the population of Osaka?"),
    ("Who founded Microsoft?", "Who founded Apple?"),
    ("How tall is the Eiffel Tower?", "How tall is the Empire State Building?"),
    ("What currency does Japan use?", "What currency does China use?"),
    ("Who wrote Hamlet?", "Who wrote Don Quixote?"),
    ("What is the boiling point of water?", "What is the boiling point of ethanol?"),
    ("How do I install Python on Windows?", "How do I install Python on Linux?"),
    ("What is the weather like in London today?", "What is the weather like in Paris today?"),
    ("Summarise the plot of Macbeth.", "Summarise the plot of Othello."),
    ("What language is spoken in Brazil?", "What language is spoken in Argentina?"),
    ("Translate the word dog into Spanish.", "Translate the word cat into Spanish."),
    ("What is the atomic number of carbon?", "What is the atomic number of oxygen?"),
    ("Who is the CEO of Tesla?", "Who is the CEO of Amazon?"),
    ("How do I sort a list in Python?", "How do I sort a list in JavaScript?"),
    ("What is the largest city in Canada?", "What is the largest city in Australia?"),
    ("What time zone is New York in?", "What time zone is Chicago in?"),
    ("How many calories are in an apple?", "How many calories are in a banana?"),
    ("What does the Linux kill command do?", "What does the Linux grep command do?"),
    ("Who painted the Mona Lisa?", "Who painted The Starry Night?"),
    ("What is the distance from Earth to Mars?", "What is the distance from Earth to Venus?"),
    ("Qual é a capital do Brasil?", "Qual é a capital da Argentina?"),
    ("Quem escreveu Os Lusíadas?", "Quem escreveu Dom Casmurro?"),
    ("Reset the password for the account of Alice.", "Reset the password for the account of Bob."),
)

NUMBER: tuple[tuple[str, str], ...] = (
    ("What is 2 plus 2?", "What is 2 plus 3?"),
    ("What is 15% of 200?", "What is 15% of 300?"),
    ("Convert 10 miles to kilometres.", "Convert 20 miles to kilometres."),
    ("What is the square root of 144?", "What is the square root of 169?"),
    ("Give me 3 ideas for a birthday party.", "Give me 5 ideas for a birthday party."),
    ("Write a 100-word story about a cat.", "Write a 500-word story about a cat."),
    ("How much is 50 dollars in euros?", "How much is 500 dollars in euros?"),
    ("What is 7 times 8?", "What is 7 times 9?"),
    ("List the first ten prime numbers.", "List the first twenty prime numbers."),
    ("Is 97 a prime number?", "Is 91 a prime number?"),
    ("Convert 30 degrees Celsius to Fahrenheit.", "Convert 40 degrees Celsius to Fahrenheit."),
    ("What is the 5th planet from the Sun?", "What is the 6th planet from the Sun?"),
    ("Split a bill of 120 between 4 people.", "Split a bill of 120 between 3 people."),
    ("How many seconds are in 2 hours?", "How many seconds are in 3 hours?"),
    ("Quanto é 12 vezes 12?", "Quanto é 12 vezes 13?"),
    ("Round 3.14159 to two decimals.", "Round 2.71828 to two decimals."),
    ("What is the sum of 1,000 and 250?", "What is the sum of 1,000 and 750?"),
    ("Give me one reason to learn Rust.", "Give me three reasons to learn Rust."),
    ("What is 2 to the power of 10?", "What is 2 to the power of 16?"),
    ("Set a timer for 5 minutes.", "Set a timer for 15 minutes."),
)

DATE: tuple[tuple[str, str], ...] = (
    ("Who won the World Cup in 2014?", "Who won the World Cup in 2018?"),
    ("What happened in 1969?", "What happened in 1989?"),
    ("Who was the US president in 1990?", "Who was the US president in 2000?"),
    ("What day of the week was 1 January 2000?", "What day of the week was 1 January 2001?"),
    ("Which film won the Oscar for best picture in 2020?",
     "Which film won the Oscar for best picture in 2021?"),
    ("What were the top songs of 1985?", "What were the top songs of 1995?"),
    ("Summarise the news from March 2023.", "Summarise the news from April 2023."),
    ("How old is someone born in 1980?", "How old is someone born in 1990?"),
    ("When is the deadline, 12 May or 15 May?", "When is the deadline, 12 June or 15 June?"),
    ("What was the inflation rate in 2021?", "What was the inflation rate in 2022?"),
    ("Quem ganhou a Copa do Mundo de 2002?", "Quem ganhou a Copa do Mundo de 1994?"),
    ("Schedule the meeting for Monday at 10.", "Schedule the meeting for Tuesday at 10."),
    ("What is on my calendar for tomorrow?", "What is on my calendar for yesterday?"),
    ("Who won the Nobel Prize in Physics in 2019?", "Who won the Nobel Prize in Physics in 2020?"),
    ("What was the population of Brazil in 1950?", "What was the population of Brazil in 2000?"),
)  # fmt: skip

LANGUAGE: tuple[tuple[str, str], ...] = (
    ("Say good morning in English.", "Say good morning in Portuguese."),
    ("Translate 'thank you' into French.", "Translate 'thank you' into German."),
    ("Write a haiku about the sea in Spanish.", "Write a haiku about the sea in Italian."),
    ("Explain recursion in English.", "Explain recursion in Portuguese."),
    ("Como se diz obrigado em inglês?", "Como se diz obrigado em espanhol?"),
    ("Reply in French: how are you?", "Reply in Spanish: how are you?"),
    ("Count to ten in Japanese.", "Count to ten in Chinese."),
    ("Write the alphabet in Russian.", "Write the alphabet in Arabic."),
    ("Translate this into Dutch: good night.", "Translate this into German: good night."),
    ("Give me a greeting in Korean.", "Give me a greeting in Japanese."),
)

NEGATION: tuple[tuple[str, str], ...] = (
    ("Is Paris in France?", "Is Paris not in France?"),
    ("Which foods contain gluten?", "Which foods do not contain gluten?"),
    ("List countries that use the euro.", "List countries that don't use the euro."),
    ("Why do cats purr?", "Why don't cats purr?"),
    ("Should I take ibuprofen with food?", "Should I not take ibuprofen with food?"),
    ("What can I eat during pregnancy?", "What can't I eat during pregnancy?"),
    ("Recipes with eggs, please.", "Recipes without eggs, please."),
    ("Is it safe to drink tap water in Lisbon?", "Is it not safe to drink tap water in Lisbon?"),
    ("Which animals can fly?", "Which animals cannot fly?"),
    ("Eu gosto de café?", "Eu não gosto de café?"),
    ("Things to do when it rains.", "Things to do when it never rains."),
    ("Which plants need sunlight?", "Which plants need no sunlight?"),
    ("Is the function thread safe?", "Is the function not thread safe?"),
    ("Movies with a happy ending.", "Movies without a happy ending."),
    ("Can I use my phone on the plane?", "Can I never use my phone on the plane?"),
)

NEAR_MISSES: dict[str, tuple[tuple[str, str], ...]] = {
    "entity": ENTITY,
    "number": NUMBER,
    "date": DATE,
    "language": LANGUAGE,
    "negation": NEGATION,
}

PARAPHRASES: tuple[tuple[str, str], ...] = (
    ("What is the capital of France?", "Which city is the capital of France?"),
    ("How do I install Python on Windows?", "What are the steps to install Python on Windows?"),
    ("Who wrote Hamlet?", "Who is the author of Hamlet?"),
    ("What is 2 plus 2?", "How much is 2 plus 2?"),
    ("How tall is the Eiffel Tower?", "What is the height of the Eiffel Tower?"),
    ("What currency does Japan use?", "What is the currency of Japan?"),
    ("Convert 10 miles to kilometres.", "How many kilometres are 10 miles?"),
    ("Who won the World Cup in 2014?", "Which team won the 2014 World Cup?"),
    ("Say good morning in English.", "How do you say good morning in English?"),
    ("Which foods contain gluten?", "What foods have gluten in them?"),
    ("How do I sort a list in Python?", "What is the way to sort a list in Python?"),
    ("What is the largest city in Canada?", "Which is the biggest city in Canada?"),
    ("Give me 3 ideas for a birthday party.", "Suggest 3 birthday party ideas."),
    ("What is the boiling point of water?", "At what temperature does water boil?"),
    ("Why do cats purr?", "What makes cats purr?"),
    ("Qual é a capital do Brasil?", "Qual cidade é a capital do Brasil?"),
    ("Who painted the Mona Lisa?", "Who was the painter of the Mona Lisa?"),
    ("What is the square root of 144?", "Calculate the square root of 144."),
    ("Translate 'thank you' into French.", "How do I say 'thank you' in French?"),
    ("Is Paris in France?", "Is Paris located in France?"),
    ("What time zone is New York in?", "Which time zone does New York use?"),
    ("Who is the CEO of Tesla?", "Who runs Tesla as CEO?"),
    ("List the first ten prime numbers.", "What are the first ten prime numbers?"),
    ("Explain recursion in English.", "Explain what recursion is, in English."),
    ("Recipes with eggs, please.", "Please give me recipes with eggs."),
)
