"""A small labelled multilingual set for language identification: chat-like questions and answers
written for these tests (not copied from anywhere), 12 languages, ISO 639-1 labels."""

from __future__ import annotations

LABELLED: list[tuple[str, str]] = [
    (
        "en",
        "Can you help me plan a three-day trip to the coast? I would like to see the old harbour and eat fresh fish.",
    ),
    ("en", "The function returns None when the list is empty, so check the length before you index into it."),
    (
        "en",
        "I have been feeling tired after lunch every day this week. Should I change what I eat or sleep earlier?",
    ),
    (
        "en",
        "Sure. First, open the settings page, then choose accounts, and finally press the button that says export.",
    ),
    (
        "en",
        "My landlord wants to raise the rent by fifteen percent. Is that allowed in the middle of a contract?",
    ),
    (
        "en",
        "Here is a short summary of the meeting: the budget is approved, the launch moves to March, and Anna leads QA.",
    ),
    (
        "de",
        "Kannst du mir helfen, einen Brief an meinen Vermieter zu schreiben? Die Heizung funktioniert seit zwei Wochen nicht.",
    ),
    (
        "de",
        "Die Funktion gibt eine leere Liste zurück, wenn keine Einträge gefunden werden. Das ist so gewollt.",
    ),
    (
        "de",
        "Ich möchte nächstes Jahr einen Marathon laufen. Wie sollte ich mit dem Training anfangen, ohne mich zu verletzen?",
    ),
    (
        "de",
        "Natürlich. Zuerst schneidest du die Zwiebeln klein, dann brätst du sie langsam in Butter an, bis sie golden sind.",
    ),
    (
        "de",
        "Wir haben uns entschieden, das Projekt um einen Monat zu verschieben, weil die Tests noch nicht bestanden sind.",
    ),
    ("de", "Warum ist der Himmel am Abend manchmal so rot? Hat das etwas mit dem Staub in der Luft zu tun?"),
    (
        "fr",
        "Peux-tu m'aider à préparer un entretien d'embauche pour un poste de développeur ? Je suis un peu stressé.",
    ),
    (
        "fr",
        "La fonction renvoie une erreur lorsque le fichier n'existe pas, il faut donc vérifier le chemin avant de l'ouvrir.",
    ),
    (
        "fr",
        "Nous partons en vacances en Bretagne au mois d'août. Quels villages au bord de la mer me conseilles-tu ?",
    ),
    (
        "fr",
        "Bien sûr. Mélange la farine et les oeufs, ajoute le lait petit à petit, puis laisse reposer la pâte une heure.",
    ),
    (
        "fr",
        "Mon ordinateur devient très lent après quelques heures d'utilisation. Est-ce que je dois changer la mémoire ?",
    ),
    (
        "fr",
        "Voici le résumé de la réunion : le budget est accepté et la date de lancement est repoussée au printemps.",
    ),
    (
        "es",
        "¿Me puedes ayudar a escribir un correo para pedir un día libre la próxima semana? Tengo una cita con el médico.",
    ),
    (
        "es",
        "La función devuelve un valor vacío cuando no encuentra resultados, así que conviene comprobarlo antes de usarlo.",
    ),
    (
        "es",
        "Quiero aprender a tocar la guitarra, pero no tengo mucho tiempo. ¿Cuántos minutos al día debería practicar?",
    ),
    (
        "es",
        "Claro. Primero calienta el aceite en una sartén, luego añade el ajo y, cuando esté dorado, echa los tomates.",
    ),
    (
        "es",
        "Nuestro equipo ha decidido retrasar el lanzamiento porque todavía faltan pruebas importantes por hacer.",
    ),
    (
        "es",
        "¿Por qué las hojas de los árboles cambian de color en otoño? Siempre me lo he preguntado desde niño.",
    ),
    (
        "it",
        "Puoi aiutarmi a organizzare una cena per dieci persone? Vorrei cucinare qualcosa di semplice ma buono.",
    ),
    (
        "it",
        "La funzione restituisce un errore quando il file non esiste, quindi controlla sempre il percorso prima di aprirlo.",
    ),
    (
        "it",
        "Ho iniziato a studiare il giapponese da sola. Hai qualche consiglio per ricordare meglio i caratteri?",
    ),
    (
        "it",
        "Certo. Prima fai bollire l'acqua con il sale, poi butta la pasta e mescola spesso finché non è al dente.",
    ),
    (
        "it",
        "Abbiamo deciso di rinviare la riunione a giovedì perché metà del gruppo è ancora in ferie questa settimana.",
    ),
    ("it", "Perché il mare è salato mentre i fiumi sono di acqua dolce? Da dove viene tutto quel sale?"),
    (
        "pt",
        "Você pode me ajudar a montar um orçamento mensal? Estou gastando mais do que ganho e não sei onde cortar.",
    ),
    (
        "pt",
        "A função retorna uma lista vazia quando não encontra nada, então verifique o tamanho antes de usar o primeiro item.",
    ),
    (
        "pt",
        "Estou pensando em adotar um cachorro, mas moro num apartamento pequeno. Que raça você recomendaria?",
    ),
    (
        "pt",
        "Claro. Primeiro lave bem o arroz, depois refogue com alho e cebola e só então acrescente a água fervendo.",
    ),
    (
        "pt",
        "A equipe decidiu adiar o lançamento para o próximo mês porque ainda existem muitos erros nos testes.",
    ),
    (
        "pt",
        "Por que sentimos mais sono depois do almoço? Isso tem alguma coisa a ver com a comida que escolhemos?",
    ),
    (
        "nl",
        "Kun je me helpen met een brief aan de gemeente? Ik wil bezwaar maken tegen de nieuwe parkeerregels in mijn straat.",
    ),
    (
        "nl",
        "De functie geeft een lege lijst terug als er niets gevonden wordt, dus controleer eerst de lengte van de lijst.",
    ),
    (
        "nl",
        "Ik wil dit jaar meer fietsen in plaats van de auto te nemen. Hoe begin ik daar het beste mee in de winter?",
    ),
    (
        "nl",
        "Natuurlijk. Snijd eerst de groenten in kleine stukjes en bak ze daarna rustig in een beetje olie.",
    ),
    (
        "nl",
        "We hebben besloten om de lancering een maand uit te stellen, omdat de laatste tests nog niet geslaagd zijn.",
    ),
    ("nl", "Waarom hebben katten zo'n hekel aan water terwijl sommige honden er juist dol op zijn?"),
    (
        "sv",
        "Kan du hjälpa mig att skriva ett mejl till min chef? Jag vill be om att få jobba hemifrån två dagar i veckan.",
    ),
    (
        "sv",
        "Funktionen returnerar en tom lista när inget hittas, så kontrollera längden innan du använder det första värdet.",
    ),
    ("sv", "Jag vill börja springa på morgonen men har svårt att komma ur sängen. Har du några bra tips?"),
    (
        "sv",
        "Självklart. Skala potatisen först, koka den sedan i saltat vatten i ungefär tjugo minuter tills den är mjuk.",
    ),
    (
        "sv",
        "Vi har bestämt oss för att skjuta upp lanseringen eftersom flera viktiga tester fortfarande misslyckas.",
    ),
    (
        "sv",
        "Varför är det så mörkt på vintern i norra Sverige medan det är ljust nästan hela natten på sommaren?",
    ),
    (
        "pl",
        "Czy możesz mi pomóc napisać list do spółdzielni? Od dwóch tygodni w moim mieszkaniu nie działa ogrzewanie.",
    ),
    ("pl", "Funkcja zwraca pustą listę, gdy nic nie zostanie znalezione, więc najpierw sprawdź jej długość."),
    ("pl", "Chciałbym nauczyć się gotować proste obiady dla całej rodziny. Od czego powinienem zacząć?"),
    (
        "pl",
        "Oczywiście. Najpierw pokrój cebulę, potem podsmaż ją na maśle, a na końcu dodaj grzyby i śmietanę.",
    ),
    (
        "pl",
        "Zdecydowaliśmy się przesunąć premierę o miesiąc, ponieważ testy wciąż pokazują zbyt wiele błędów.",
    ),
    ("pl", "Dlaczego zimą szybciej się męczymy i mamy mniej energii niż latem, kiedy dni są dłuższe?"),
    (
        "ru",
        "Можешь помочь мне составить план тренировок на месяц? Я хочу пробежать десять километров без остановки.",
    ),
    ("ru", "Функция возвращает пустой список, если ничего не найдено, поэтому сначала проверь его длину."),
    (
        "ru",
        "Мы решили перенести запуск на следующий месяц, потому что тесты всё ещё показывают много ошибок.",
    ),
    ("ru", "Конечно. Сначала нарежь овощи, потом обжарь их на сковороде и добавь немного соли и перца."),
    ("ru", "Почему зимой так хочется спать, даже если ложишься рано и спишь больше восьми часов?"),
    (
        "ru",
        "Вот краткое содержание встречи: бюджет утверждён, а ответственной за тестирование назначена Анна.",
    ),
    (
        "tr",
        "Bana bir iş başvurusu mektubu yazmamda yardım eder misin? Yazılım geliştirici pozisyonu için başvuruyorum.",
    ),
    (
        "tr",
        "Fonksiyon hiçbir sonuç bulamadığında boş bir liste döndürüyor, bu yüzden önce uzunluğunu kontrol et.",
    ),
    ("tr", "Bu yaz ailemle birlikte Ege kıyısında tatil yapmak istiyoruz. Hangi kasabaları önerirsin?"),
    (
        "tr",
        "Tabii ki. Önce soğanları ince ince doğra, sonra tereyağında yavaşça kavur ve en son domatesleri ekle.",
    ),
    ("tr", "Ekip, testler hâlâ başarısız olduğu için lansmanı bir ay ertelemeye karar verdi."),
    ("tr", "Neden kışın daha çok uyumak istiyoruz? Bunun güneş ışığıyla bir ilgisi var mı?"),
    ("ja", "来週の東京旅行の計画を手伝ってもらえますか。古いお寺と美味しいラーメン屋さんに行きたいです。"),
    (
        "ja",
        "この関数は何も見つからないときに空のリストを返すので、最初の要素を使う前に長さを確認してください。",
    ),
    ("ja", "最近、夜になかなか眠れません。寝る前にスマートフォンを見るのをやめたほうがいいでしょうか。"),
    ("ja", "もちろんです。まず野菜を小さく切って、それから油でゆっくり炒めて、最後に醤油を少し加えます。"),
    ("ja", "テストがまだ多く失敗しているため、チームは発売を一か月延期することに決めました。"),
    ("ja", "なぜ秋になると木の葉の色が変わるのですか。子供のころからずっと不思議に思っていました。"),
    ("zh", "你能帮我写一封请假的邮件吗？我下周三要去医院做检查，需要请一天假。"),
    ("zh", "这个函数在找不到结果时会返回一个空列表，所以在使用第一个元素之前请先检查长度。"),
    ("zh", "我想开始学习弹钢琴，但是每天的时间不多。你觉得每天练习多长时间比较合适？"),
    ("zh", "当然可以。先把蔬菜切成小块，然后用油慢慢炒，最后加一点盐和酱油就可以了。"),
    ("zh", "因为测试中还有很多错误，团队决定把产品发布推迟一个月。"),
    ("zh", "为什么秋天树叶会变颜色？我从小就一直觉得很奇怪。"),
]
